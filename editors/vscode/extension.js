// The resnet-dsl language server as VS Code's client for .arch files: `resnet-dsl lsp` over stdio.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("resnetDsl").get("server.command");
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "resnetDsl",
    "resnet-dsl",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "arch" }, { scheme: "untitled", language: "arch" }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
