import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// The production build is embedded into the `qollab` binary by server/build.rs, which
// passes --outDir. `npm run dev` proxies the API and sockets to a local `qollab serve`.
const api = process.env.QOLLAB_API ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [react()],
  build: {
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': api,
      '/ws': { target: api.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
