// Starts `allot lsp` as the language server of `.allot` files.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("allot");
  const command = config.get("path", "allot");
  const args = ["lsp", ...config.get("lsp.arguments", [])];
  client = new LanguageClient(
    "allot",
    "Allot",
    { run: { command, args }, debug: { command, args } },
    { documentSelector: [{ scheme: "file", language: "allot" }, { scheme: "untitled", language: "allot" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
