// Builds dist/cjs (require) and dist/esm (import) from lib/ and marks each folder's module type.
// The build goes to a private folder first and replaces dist in one step, so a test that reads
// dist while another process rebuilds never sees it half written.
import { execFileSync } from 'node:child_process'
import { chmodSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const out = `.dist-${process.pid}`
const tsc = ['node_modules/typescript/bin/tsc']
try {
  execFileSync(process.execPath, [...tsc, '-p', 'tsconfig.build.json', '--outDir', `${out}/cjs`], { stdio: 'inherit' })
  execFileSync(process.execPath, [...tsc, '-p', 'tsconfig.esm.json', '--outDir', `${out}/esm`], { stdio: 'inherit' })
  useEsmVariants(`${out}/esm`)
  writeFileSync(`${out}/cjs/package.json`, JSON.stringify({ type: 'commonjs' }) + '\n')
  writeFileSync(`${out}/esm/package.json`, JSON.stringify({ type: 'module' }) + '\n')
  chmodSync(`${out}/cjs/cli.js`, 0o755) // the package's bin
  const old = `.dist-old-${process.pid}`
  try { renameSync('dist', old) } catch {}
  renameSync(out, 'dist')
  rmSync(old, { recursive: true, force: true })
} finally {
  rmSync(out, { recursive: true, force: true })
}

/** In the ESM build, x.esm.js (and its .d.ts) replaces x.js: for code that differs by module kind, such as require(). */
function useEsmVariants (folder) {
  for (const entry of readdirSync(folder, { recursive: true })) {
    const variant = /^(.*)\.esm(\.js|\.d\.ts)$/.exec(entry)
    if (variant !== null) renameSync(join(folder, entry), join(folder, `${variant[1]}${variant[2]}`))
  }
}
