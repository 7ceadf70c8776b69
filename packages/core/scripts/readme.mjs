// npm takes a package's README and LICENSE from the package folder: the repository's
// README is the package's, so prepack copies it here (git ignores the copy).
import { copyFileSync } from "node:fs";
copyFileSync(new URL("../../../README.md", import.meta.url), new URL("../README.md", import.meta.url));
