import { createReadStream, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

// Cross-origin isolation lets onnxruntime-web's WASM provider use threads (SharedArrayBuffer).
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const FIXTURES = resolve('test/fixtures');

/**
 * The end-to-end tests' preview serves the reference fixtures the harness page fetches
 * (`/test/fixtures/...`), as the dev server serves every file of the project.
 */
function fixtures(): Plugin {
  return {
    name: 'lemo-e2e-fixtures',
    configurePreviewServer(server) {
      server.middlewares.use('/test/fixtures', (req, res, next) => {
        const path = resolve(FIXTURES, '.' + decodeURIComponent((req.url ?? '/').split('?')[0]));
        if (!path.startsWith(FIXTURES + sep) || !statSync(path, { throwIfNoEntry: false })?.isFile()) return next();
        for (const [k, v] of Object.entries(isolation)) res.setHeader(k, v);
        res.setHeader('Content-Type', path.endsWith('.json') ? 'application/json' : 'application/octet-stream');
        createReadStream(path).pipe(res);
      });
    },
  };
}

// `--mode e2e`: the build the end-to-end tests run against (playwright.config.ts), the studio and
// the engine harness page (e2e/harness.html), with the page's debug hooks; a production build's
// page loads in a third of the dev server's time and redraws its charts faster.
export default defineConfig(({ mode }) => ({
  plugins: [react(), ...(mode === 'e2e' ? [fixtures()] : [])],
  server: { headers: isolation },
  preview: { headers: isolation },
  optimizeDeps: {
    exclude: ['onnxruntime-web'],
    // Scan every page at start-up so the dev server never reloads a page to add a dependency.
    entries: ['index.html', 'e2e/harness.html'],
  },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    ...(mode === 'e2e' ? { outDir: 'dist-e2e', sourcemap: true, rollupOptions: { input: { main: 'index.html', harness: 'e2e/harness.html' } } } : {}),
  },
}));
