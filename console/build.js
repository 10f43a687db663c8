// Builds the console into dist/: one bundle (esbuild) and the static page. No CDN: everything
// the page needs is in dist/.
//
//   node build.js            # once
//   node build.js --watch    # rebuilds on change

import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'dist');
mkdirSync(out, { recursive: true });
for (const file of ['index.html', 'style.css']) cpSync(path.join(here, 'src', file), path.join(out, file));

const options = {
  entryPoints: [path.join(here, 'src', 'main.jsx')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  outfile: path.join(out, 'app.js'),
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  // @tokenmeter/client is linked from ../client: its imports resolve here too.
  nodePaths: [path.join(here, 'node_modules')],
  logLevel: 'warning',
};
if (process.argv.includes('--watch')) {
  const context = await esbuild.context(options);
  await context.watch();
  console.log('watching src/ for changes');
} else {
  const result = await esbuild.build({ ...options, metafile: true });
  const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
  console.log(`console built into ${path.relative(process.cwd(), out) || '.'} (${(bytes / 1e6).toFixed(1)} MB with source maps)`);
}
