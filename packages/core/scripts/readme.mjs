// npm takes a package's README and LICENSE from the package folder. The package's
// README is the user's part of the repository's README: everything above the
// "package README ends here" marker (the development sections below it are for
// people working on this repository). Links relative to the repository (docs/,
// examples/, interop/) become links to the repository, where those files are.
import { readFileSync, writeFileSync } from "node:fs";

const MARKER = "<!-- package README ends here -->";
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const repo = pkg.repository.url.replace(/^git\+/, "").replace(/\.git$/, "");
const text = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
const cut = text.indexOf(MARKER);
if (cut < 0) throw new Error(`README.md has no ${MARKER} line`);
const user = text
  .slice(0, cut)
  .trimEnd()
  .replace(/\]\((?!https?:|#|mailto:)([^)]+)\)/g, (_m, target) => `](${repo}/blob/main/${target.replace(/^\.\//, "")})`);
writeFileSync(new URL("../README.md", import.meta.url), `${user}\n`);
