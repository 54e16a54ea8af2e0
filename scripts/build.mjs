// Builds dist/cjs (require) and dist/esm (import) from lib/ and marks each folder's module type.
import { execFileSync } from 'node:child_process'
import { chmodSync, rmSync, writeFileSync } from 'node:fs'

rmSync('dist', { recursive: true, force: true })
const tsc = ['node_modules/typescript/bin/tsc']
execFileSync(process.execPath, [...tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
execFileSync(process.execPath, [...tsc, '-p', 'tsconfig.esm.json'], { stdio: 'inherit' })
writeFileSync('dist/cjs/package.json', JSON.stringify({ type: 'commonjs' }) + '\n')
writeFileSync('dist/esm/package.json', JSON.stringify({ type: 'module' }) + '\n')
chmodSync('dist/cjs/cli.js', 0o755) // the package's bin
