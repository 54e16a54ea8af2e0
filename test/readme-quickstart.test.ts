// The README's Quick start compiles as written: the block is taken from README.md and type-checked
// as a strict ES module against the built package (top-level await and all).
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const root = join(__dirname, '..')

t.test('the Quick start of the README type-checks as written', async t => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Quick start'))
  const sample = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  t.ok(sample?.includes('app.register(jwtAuth'), 'the Quick start has its code block')
  // Inside the repository, so that 'fastify-jwt-auth' resolves to this package (self-reference).
  const dir = mkdtempSync(join(root, '.readme-check-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'quick-start.mts'), `${sample as string}\nexport {}\n`)
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../types/tsconfig.json', compilerOptions: { types: ['node'] }, files: ['quick-start.mts'] }))
  const tsc = join(root, 'node_modules', '.bin', 'tsc')
  const result = await promisify(execFile)(tsc, ['-p', join(dir, 'tsconfig.json')]).then(() => ({ code: 0, out: '' }), (error: { code: number, stdout: string }) => ({ code: error.code, out: error.stdout }))
  t.equal(result.code, 0, `tsc: ${result.out}`)
})
