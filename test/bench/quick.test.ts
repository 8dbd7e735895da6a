import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { ensureBuilt, root } from '../helpers/build.js'

t.test('bench: a short run starts everything, prints the table and ends with the main ratio', async (t) => {
  ensureBuilt('dist/bench/bench.js', ['src', 'bench', 'demo'])
  const args = ['--quick', '--only', 'bare,redis', '--duration', '1', '--growth', '0', '--sign-ins', '0', '--out', '-']
  const child = spawn(process.execPath, [join(root, 'dist/bench/bench.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  clearTimeout(timer)
  t.equal(code, 0, stderr.slice(-2000))
  t.match(stdout, /^target\s+req\/s\s+p50 ms\s+p99 ms\s+CPU µs\/req\s+RSS MB\s+Redis cmd\/req\s+vs bare\s+errors$/m)
  t.match(stdout, /^bare @fastify\/http-proxy \(floor\)\s+\d+\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+-\s+1\.00x\s+0$/m)
  t.match(stdout, /^portcullis signed in, Redis store\s+\d+\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+x\s+0$/m)
  const lines = stdout.trim().split('\n')
  t.match(lines.at(-1), /^main ratio: signed-in \(Redis store\) \/ bare proxy throughput = \d+\.\d\dx$/)
})
