// Starts `tokenmeter-gateway` and the fake upstream as child processes for a test file, and
// stops them (SIGINT, or SIGKILL to simulate a crash).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { nodeBinary } from './node.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The gateway binary: $TOKENMETER_GATEWAY, else beside the node binary. */
export function gatewayBinary() {
  const candidates = [
    process.env.TOKENMETER_GATEWAY,
    path.join(path.dirname(nodeBinary()), 'tokenmeter-gateway'),
    path.join(os.homedir(), '.cache', 'tokenmeter', 'target', 'release', 'tokenmeter-gateway'),
  ].filter(Boolean);
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`tokenmeter-gateway not found; looked in ${candidates.join(', ')}`);
  return found;
}

/** Starts `command args`; resolves once `ready()` holds (polled), with `{ logs, stop, kill }`. */
export async function startProcess(command, args, ready, { timeoutMs = 30_000, spawnOptions = {} } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  const logs = [];
  const keep = (chunk) => { logs.push(chunk.toString()); if (logs.length > 2000) logs.splice(0, 1000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const killOnExit = () => { if (exited === null) child.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  const end = async (signal) => {
    process.removeListener('exit', killOnExit);
    if (exited !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`${command} exited early (${JSON.stringify(exited)}):\n${logs.join('')}`);
    if (await ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      await end('SIGKILL');
      throw new Error(`${command} not ready after ${timeoutMs} ms:\n${logs.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    logs, stop: () => end('SIGINT'), terminate: () => end('SIGTERM'), kill: () => end('SIGKILL'), process: child,
    exited: () => exited,
  };
}

/** The fake upstream on `port`. */
export async function startUpstream(port) {
  const upstream = await startProcess(process.execPath, [path.join(here, 'fake-upstream.js'), String(port)],
    async () => (await fetch(`http://127.0.0.1:${port}/_requests`)).ok);
  return Object.assign(upstream, { url: `http://127.0.0.1:${port}` });
}

/**
 * The gateway with its public listener on `port` and its operator listener (the usage feed,
 * `/admin`, `/metrics`) on `operatorPort`, with these flags; ready once `/health` answers 200.
 */
export function startGateway(port, operatorPort, args, options) {
  return startProcess(gatewayBinary(),
    ['--listen', `127.0.0.1:${port}`, '--operator-listen', `127.0.0.1:${operatorPort}`, ...args],
    async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, options);
}
