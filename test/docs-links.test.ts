// Every relative link in README.md, SECURITY.md and docs/*.md names a file that exists, and every
// `#anchor` a heading of its target page by GitHub's slug rules: moving a section between pages
// cannot leave a dead link behind.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'

const root = join(__dirname, '..')

/** The page with fenced code blocks and inline code spans blanked out, offsets and lines kept. */
function prose (markdown: string): string {
  let fence: string | null = null
  return markdown.split('\n').map(line => {
    const opens = /^\s*(`{3,}|~{3,})/.exec(line)
    if (fence !== null) {
      if (opens !== null && opens[1]?.[0] === fence[0] && (opens[1]?.length ?? 0) >= fence.length) fence = null
      return ''
    }
    if (opens !== null) { fence = opens[1] as string; return '' }
    return line.replace(/(`+)[^`]*?\1/g, span => ' '.repeat(span.length))
  }).join('\n')
}

/** The anchors GitHub gives a page's headings: rendered text, lower case, punctuation dropped, spaces to '-', repeats numbered. */
function headingSlugs (markdown: string): Set<string> {
  const slugs = new Set<string>()
  const seen = new Map<string, number>()
  let fence: string | null = null
  for (const line of markdown.split('\n')) {
    const opens = /^\s*(`{3,}|~{3,})/.exec(line)
    if (fence !== null) {
      if (opens !== null && opens[1]?.[0] === fence[0]) fence = null
      continue
    }
    if (opens !== null) { fence = opens[1] as string; continue }
    const heading = /^ {0,3}#{1,6}\s+(.*?)(\s+#+)?\s*$/.exec(line)
    if (heading === null) continue
    const text = (heading[1] as string)
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text only
      .replace(/[`*]/g, '') // code and emphasis marks
    const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-')
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    slugs.add(count === 0 ? base : `${base}-${count}`)
  }
  return slugs
}

interface Link { file: string, line: number, target: string }

/** Inline links and images, and reference definitions, outside code. */
function linksOf (file: string): Link[] {
  const text = prose(readFileSync(file, 'utf8'))
  const links: Link[] = []
  const patterns = [/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g, /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm]
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) {
      links.push({ file, line: text.slice(0, match.index).split('\n').length, target: match[1] as string })
    }
  }
  return links
}

/** What is wrong with each relative link of the files, as `file:line: target: reason`; empty when all hold. */
function brokenLinks (files: string[], base: string): string[] {
  const slugCache = new Map<string, Set<string>>()
  const slugsOf = (file: string): Set<string> => {
    let slugs = slugCache.get(file)
    if (slugs === undefined) { slugs = headingSlugs(readFileSync(file, 'utf8')); slugCache.set(file, slugs) }
    return slugs
  }
  const broken: string[] = []
  for (const link of files.flatMap(linksOf)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue // http:, https:, mailto: are not files
    const hash = link.target.indexOf('#')
    const path = decodeURIComponent(hash === -1 ? link.target : link.target.slice(0, hash))
    const anchor = hash === -1 ? null : decodeURIComponent(link.target.slice(hash + 1))
    const target = path === '' ? link.file : path.startsWith('/') ? join(base, path) : resolve(dirname(link.file), path)
    const where = `${relative(base, link.file)}:${link.line}: ${link.target}`
    if (!existsSync(target)) { broken.push(`${where}: no file ${relative(base, target)}`); continue }
    if (anchor === null) continue
    if (!target.endsWith('.md')) {
      if (!/^L\d+(-L\d+)?$/.test(anchor)) broken.push(`${where}: an anchor into a file that is not markdown`)
    } else if (!slugsOf(target).has(anchor)) {
      broken.push(`${where}: no heading #${anchor} in ${relative(base, target)}`)
    }
  }
  return broken
}

const docs = readdirSync(join(root, 'docs')).filter(name => name.endsWith('.md')).map(name => join(root, 'docs', name))
const pages = [join(root, 'README.md'), join(root, 'SECURITY.md'), ...docs]

t.test('every relative link and anchor in README.md, SECURITY.md and docs/*.md holds', async t => {
  t.ok(docs.length >= 10, 'the docs pages are found')
  const links = pages.flatMap(linksOf).filter(link => !/^[a-z][a-z0-9+.-]*:/i.test(link.target))
  t.ok(links.filter(link => link.target.includes('#')).length >= 10, 'anchors are among the links checked')
  t.same(brokenLinks(pages, root), [])
})

t.test('the README links to every docs page', async t => {
  const targets = new Set(linksOf(join(root, 'README.md')).map(link => resolve(root, link.target.split('#')[0] as string)))
  for (const page of docs) t.ok(targets.has(page), `README.md links to ${relative(root, page)}`)
})

t.test('GitHub slugs: code marks and punctuation dropped, repeats numbered, headings in code ignored', async t => {
  const slugs = headingSlugs([
    '# Keys and JWKS', "## The article's questions, answered for this plugin", '### `waitForReplicas` (opt-in)',
    '## Single-page apps (browser, cookies)', '## Cost', '## Cost', '```sh', '# not a heading', '```'
  ].join('\n'))
  t.same([...slugs], ['keys-and-jwks', 'the-articles-questions-answered-for-this-plugin', 'waitforreplicas-opt-in',
    'single-page-apps-browser-cookies', 'cost', 'cost-1'])
})

t.test('a missing file, a missing anchor here or in another page are each reported; code is not checked', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-jwt-auth-links-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'docs'))
  writeFileSync(join(dir, 'docs', 'a.md'), '# Page A\n\n## Details\n')
  writeFileSync(join(dir, 'README.md'), [
    '# Top', '',
    '[good](docs/a.md) [good anchor](docs/a.md#details) [here](#top) [web](https://example.com/x.md)',
    '[gone](docs/b.md)',
    '[bad anchor](docs/a.md#detail)',
    '[bad here](#bottom)',
    '`[in code](docs/c.md)`',
    '```', '[in a block](docs/d.md)', '```',
    '[ref]: docs/e.md'
  ].join('\n'))
  t.same(brokenLinks([join(dir, 'README.md')], dir), [
    'README.md:4: docs/b.md: no file docs/b.md',
    'README.md:5: docs/a.md#detail: no heading #detail in docs/a.md',
    'README.md:6: #bottom: no heading #bottom in README.md',
    'README.md:11: docs/e.md: no file docs/e.md'
  ])
})
