// A throwaway PostgreSQL server for a test file: `initdb` in a temporary directory, `postgres`
// on a free port (loopback only, its socket in that directory), stopped and removed by
// `stop()`. Uses Debian's `postgresql` package (scripts/common.sh installs it). PostgreSQL
// refuses to run as root: as root, the server runs as the `postgres` user the package creates.

import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { startProcess } from './gateway.js';
import { freePort } from './node.js';

const run = promisify(execFile);

/** The directory of PostgreSQL's server programs (initdb, postgres, pg_isready). */
export function postgresBin() {
  if (process.env.TOKENMETER_PG_BIN) return process.env.TOKENMETER_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => path.join(root, v, 'bin')).find((dir) => existsSync(path.join(dir, 'initdb')));
  if (!found) throw new Error('PostgreSQL not found: install Debian\'s `postgresql` package (scripts/common.sh does)');
  return found;
}

/**
 * Starts a server; resolves with `{ url, stop }` (`url`: postgres://… of database `postgres`).
 * Without waiting for the disk unless `durable` (as a production server runs).
 */
export async function startPostgres({ durable = false } = {}) {
  const bin = postgresBin();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-pg-'));
  const data = path.join(dir, 'data');
  const asUser = {};
  if (process.getuid?.() === 0) {
    asUser.uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    asUser.gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, asUser.uid, asUser.gid);
  }
  await run(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'tokenmeter', '-E', 'UTF8', '--no-sync'], { ...asUser, cwd: dir });
  const port = await freePort();
  const server = await startProcess(path.join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'max_connections=100', '-c', `fsync=${durable ? 'on' : 'off'}`,
  ], async () => {
    await run(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]);
    return true;
  }, { spawnOptions: { ...asUser, cwd: dir } });
  return {
    url: `postgres://tokenmeter@127.0.0.1:${port}/postgres`,
    port,
    logs: server.logs,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
