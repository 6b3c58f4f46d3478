import { fileURLToPath } from 'node:url'
import { defineConfig, type Plugin } from 'vite'
import react from '@vitejs/plugin-react'

// The production build is embedded into the `qollab` binary by server/build.rs, which
// passes --outDir. `npm run dev` proxies the API and sockets to a local `qollab serve`.
const api = process.env.QOLLAB_API ?? 'http://127.0.0.1:8080'

// The API reference page (api-docs.html, served at /api/docs) bundles Swagger UI's
// prebuilt ~1.5 MB bundle as one chunk that cannot be split. Vite's warning limit is
// raised past it, and this keeps the 600 kB warning for every other chunk.
const CHUNK_WARN_KB = 600
const API_DOCS_CHUNK_WARN_KB = 1700

function chunkSizeWarning(): Plugin {
  return {
    name: 'qollab:chunk-size-warning',
    apply: 'build',
    generateBundle(_, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk' || chunk.name === 'api-docs') continue
        const kb = chunk.code.length / 1000
        if (kb > CHUNK_WARN_KB) this.warn(`${chunk.fileName} is ${kb.toFixed(0)} kB, over ${CHUNK_WARN_KB} kB: split it with import()`)
      }
    },
  }
}

export default defineConfig({
  plugins: [react(), chunkSizeWarning()],
  build: {
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: API_DOCS_CHUNK_WARN_KB,
    rolldownOptions: {
      // Two pages: the app, and the API reference the server answers /api/docs with.
      input: {
        index: fileURLToPath(new URL('./index.html', import.meta.url)),
        'api-docs': fileURLToPath(new URL('./api-docs.html', import.meta.url)),
      },
    },
  },
  server: {
    proxy: {
      // '/api/', not '/api': a prefix, which would also take /api-docs.html.
      '/api/': api,
      '/ws': { target: api.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
