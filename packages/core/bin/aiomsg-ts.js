#!/usr/bin/env node
// The aiomsg-ts executable; the code is compiled from src/cli/ (main.ts) into dist/cli/.
import "../dist/cli/main.js";
