// dist/cjs holds the CommonJS build (tsc -p tsconfig.cjs.json); this marker makes Node
// and TypeScript read its .js and .d.ts files as CommonJS although the package is "type": "module".
import { mkdirSync, writeFileSync } from "node:fs";
const dir = new URL("../dist/cjs/", import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL("package.json", dir), JSON.stringify({ type: "commonjs" }) + "\n");
