import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// The production build is embedded into the `qollab` binary by server/build.rs, which
// passes --outDir. `npm run dev` proxies the API and sockets to a local `qollab serve`.
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
      '/api': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
