// The browser tests drive Debian's Chromium (/usr/bin/chromium). When it is missing this
// installs it with apt (as root, as .ci/run does), or says how to; puppeteer-core never
// downloads a browser.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

if (!existsSync(chromiumPath)) {
  if (process.getuid?.() !== 0) {
    console.error(`${chromiumPath} is missing: install it with "sudo apt-get install -y chromium" (or set CHROMIUM_PATH) and run the tests again.`)
    process.exit(1)
  }
  console.error(`${chromiumPath} is missing: installing Debian's chromium with apt-get for the browser tests`)
  const quiet = { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }
  execFileSync('apt-get', ['update', '-qq'], quiet)
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], quiet)
}
