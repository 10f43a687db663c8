// The real model of the tests and the benchmark: llama.cpp's `llama-server` with
// SmolLM2-135M-Instruct, both installed from PyPI by scripts/common.sh (`ensure_model_server`).

import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startProcess } from './gateway.js';

const tools = path.join(os.homedir(), '.cache', 'tokenmeter', 'tools');

/** `llama-server` and the model file: $LLAMA_SERVER and $SMOLLM2_GGUF, else where the scripts put them. */
export function modelFiles() {
  const server = process.env.LLAMA_SERVER ?? path.join(tools, 'llama-0.3.36', 'bin', 'llama-server');
  const model = process.env.SMOLLM2_GGUF ?? path.join(tools, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
  for (const file of [server, model]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: run scripts/test.sh, or \`source scripts/common.sh && ensure_model_server\``);
    }
  }
  return { server, model };
}

/**
 * `llama-server` on `port` with SmolLM2 (`slots` requests at once, 1,024 tokens of context
 * each); ready once its model is loaded (`/health` answers 200). Returns the process with
 * `.url` (its root; the OpenAI API is under `/v1`).
 */
export async function startModelServer(port, { slots = 2, threads = 2, extraArgs = [] } = {}) {
  const { server, model } = modelFiles();
  const child = await startProcess(server, [
    '-m', model, '--host', '127.0.0.1', '--port', String(port), '--parallel', String(slots),
    '--ctx-size', String(1024 * slots), '--threads', String(threads), '--seed', '7', '--no-webui',
    ...extraArgs,
  ], async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, { timeoutMs: 60_000 });
  return Object.assign(child, { url: `http://127.0.0.1:${port}` });
}

/** How many tokens the model server's own tokenizer makes of `text` (special tokens parsed). */
export async function countTokens(url, text) {
  const answer = await fetch(`${url}/tokenize`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content: text, add_special: false, parse_special: true }),
  });
  if (!answer.ok) throw new Error(`/tokenize: ${answer.status} ${await answer.text()}`);
  return (await answer.json()).tokens.length;
}

/** The prompt the model server makes of chat `messages` with the model's own template. */
export async function templated(url, messages) {
  const answer = await fetch(`${url}/apply-template`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages }),
  });
  if (!answer.ok) throw new Error(`/apply-template: ${answer.status} ${await answer.text()}`);
  return (await answer.json()).prompt;
}
