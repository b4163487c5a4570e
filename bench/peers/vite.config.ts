// The peers' browser pages (TF.js, the matmul ceilings) and the engine harness, served like the
// studio: cross-origin isolated (COOP/COEP) so WASM threads get SharedArrayBuffer; every .wasm
// comes from this origin (node_modules through the dev server), none from a CDN.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  // Its own dependency cache, apart from the studio's dev servers.
  cacheDir: 'node_modules/.vite-peers',
  // Others edit the tree while a benchmark runs: no file watching, no reloads mid-run.
  server: { headers: isolation, hmr: false, watch: null },
  optimizeDeps: {
    exclude: ['onnxruntime-web'],
    entries: ['e2e/harness.html', 'bench/peers/tfjs/page.html'],
  },
  worker: { format: 'es' },
});
