// The load tools the gateway benchmarks share: wrk (closed loop, 8 connections by default) and
// the repository's open-loop load generator (gateway/examples/loadgen.rs).

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * wrk POSTing `body` with `headers` for `seconds` at `connections`, its Lua script written in
 * `dir`: { rps, p50_ms, p99_ms }. Throws unless every answer was a 200.
 */
export async function wrk({ url, body, headers = {}, seconds, dir, connections = 8 }) {
  const script = path.join(dir, `post-${process.hrtime.bigint()}.lua`);
  await writeFile(script, [
    'wrk.method = "POST"',
    `wrk.body = ${JSON.stringify(body)}`,
    'wrk.headers["Content-Type"] = "application/json"',
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
    // Only 200s count as served.
    'done = function(summary, latency, requests) io.stderr:write(string.format("non2xx=%d\\n", summary.errors.status)) end',
  ].join('\n'));
  const { stdout, stderr } = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', script, url], { maxBuffer: 1 << 24 });
  const ms = (label) => {
    const [, value, unit] = stdout.match(new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`));
    return Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit];
  };
  const non2xx = Number(stderr.match(/non2xx=(\d+)/)?.[1] ?? 0);
  const errors = Number(stdout.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0) + non2xx;
  if (errors > 0) throw new Error(`${url}: ${errors} answers were not 200:\n${stdout}`);
  return { rps: Number(stdout.match(/Requests\/sec:\s+([\d.]+)/)[1]), p50_ms: ms('50'), p99_ms: ms('99') };
}

/** The load generator in `examples` with these arguments: its JSON line. */
export async function loadgen(examples, args) {
  const { stdout } = await run(path.join(examples, 'loadgen'), args, { maxBuffer: 1 << 24 });
  return JSON.parse(stdout);
}

/** A process's resident memory, KiB. */
export const rssKiB = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
