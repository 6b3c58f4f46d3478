#!/usr/bin/env node
// Starts the reference y-websocket server (npm y-websocket@1, bin/server.js) on loopback for
// benchmarks and interop tests. Prints one JSON line {"url", "pid"} once it listens, then
// stays in the foreground until killed (SIGINT/SIGTERM are passed on).
//
//   node reference-server.mjs [--host 127.0.0.1] [--port 0]     (port 0 = a free port)
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const args = process.argv.slice(2)
const arg = (name, dflt) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt
}
const host = arg('--host', '127.0.0.1')
let port = Number(arg('--port', '0'))

if (port === 0) {
  port = await new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, host, () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

const here = path.dirname(fileURLToPath(import.meta.url))
const server = spawn(process.execPath, [path.join(here, 'node_modules/y-websocket/bin/server.js')], {
  env: { ...process.env, HOST: host, PORT: String(port) },
  stdio: ['ignore', 'pipe', 'inherit']
})
server.stdout.on('data', chunk => {
  if (String(chunk).includes('running at')) {
    console.log(JSON.stringify({ url: `ws://${host}:${port}`, pid: server.pid }))
  }
})
server.on('exit', code => process.exit(code ?? 1))
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill(sig))
