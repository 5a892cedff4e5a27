// Tokenizes files with VS Code's own grammar engine (vscode-textmate + vscode-oniguruma), as the
// editor colours them: prints, per file, per line, each token's text and its scopes, as JSON.
//   node tokenize.js GRAMMAR.json FILE...    (NODE_PATH: where the two packages are installed)
"use strict";
const fs = require("fs");
const path = require("path");
const textmate = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

async function main() {
  const [grammarPath, ...files] = process.argv.slice(2);
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer);
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async () => textmate.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  const grammar = await registry.loadGrammar("source.arch");
  const result = {};
  for (const file of files) {
    let stack = textmate.INITIAL;
    result[file] = fs.readFileSync(file, "utf8").split("\n").map((line) => {
      const found = grammar.tokenizeLine(line, stack);
      stack = found.ruleStack;
      return found.tokens.map((token) => [line.slice(token.startIndex, token.endIndex), token.scopes.slice(1)]);
    });
  }
  process.stdout.write(JSON.stringify(result));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(1);
});
