// The example page's script: plain fetch, same origin, the plugin's cookies as the only
// credential. On a 401 it refreshes once, silently, and retries; any other refresh answer
// (400 at the session's end, when the browser has dropped the refresh cookie) means: log in again.
const byId = (id) => document.getElementById(id)

async function request (method, path, json) {
  const init = { method, headers: {} }
  if (json !== undefined) {
    init.headers['content-type'] = 'application/json'
    init.body = JSON.stringify(json)
  }
  const response = await fetch(path, init)
  const text = await response.text()
  return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', body: text === '' ? null : JSON.parse(text) }
}

/** RFC 9470: the token is fine, the authentication behind it is too old or too weak. */
function needsStepUp (answer) {
  return answer.status === 401 && answer.challenge.includes('error="insufficient_user_authentication"')
}

// Tabs refreshing at once share one refresh per page; the server's reuse grace covers the rest.
let refreshing = null
async function refresh () {
  refreshing ??= request('POST', '/auth/refresh').finally(() => { refreshing = null })
  return await refreshing
}

/** A call to the API that survives an expired access token; null when the session has ended. */
async function api (method, path, json) {
  const answer = await request(method, path, json)
  // A refresh cannot help a step-up challenge: it never makes the authentication newer.
  if (answer.status !== 401 || needsStepUp(answer)) return answer
  if ((await refresh()).status !== 200) {
    showLogin('Your session has ended: please log in again.')
    return null
  }
  return await request(method, path, json)
}

function say (message) {
  byId('status').textContent = message
}

function showLogin (message = '') {
  byId('app').hidden = true
  byId('login').hidden = false
  byId('sessions').replaceChildren()
  say(message)
}

async function showProfile () {
  const answer = await api('GET', '/profiles')
  if (answer === null) return
  byId('profile').textContent = `Logged in as ${answer.body.username} (hair: ${answer.body.hairColor}).`
  byId('login').hidden = true
  byId('app').hidden = false
  await showSessions()
}

async function showSessions () {
  const answer = await api('GET', '/auth/sessions')
  if (answer === null) return
  const items = answer.body.map(session => {
    const item = document.createElement('li')
    item.dataset.session = session.id
    const since = new Date(session.createdAt).toLocaleString()
    item.textContent = `${session.current ? 'This browser' : (session.userAgent ?? 'Another client')}, since ${since} `
    const end = document.createElement('button')
    end.type = 'button'
    end.textContent = session.current ? 'End (log out)' : 'End'
    end.addEventListener('click', () => { endSession(session.id, session.current).catch(failed) })
    item.append(end)
    return item
  })
  byId('sessions').replaceChildren(...items)
}

async function endSession (id, current) {
  const answer = await api('DELETE', `/auth/sessions/${encodeURIComponent(id)}`)
  if (answer === null) return
  if (current) showLogin('Logged out.')
  else await showSessions()
}

async function logIn (username) {
  const answer = await request('POST', '/login', { username, remember: byId('remember').checked })
  // The body also carries the tokens (for curl and Postman): this page does not need them.
  if (answer.status !== 200) return say(`Login failed: ${answer.body?.message ?? answer.status}`)
  say('')
  await showProfile()
}

async function logOut (path) {
  const answer = await request('POST', path)
  // /auth/logout-all needs a live access token: refresh first if it expired.
  if (answer.status === 401 && (await refresh()).status === 200) await request('POST', path)
  showLogin('Logged out.')
}

async function openAdmin () {
  const answer = await api('GET', '/admin')
  if (answer === null) return
  byId('admin-result').textContent = answer.status === 200 ? answer.body.message : `Refused (${answer.status}): ${answer.body.message}`
}

async function openSettings () {
  const answer = await api('GET', '/settings')
  if (answer === null) return
  byId('confirm').hidden = !needsStepUp(answer)
  byId('settings-result').textContent = answer.status === 200
    ? `Settings of ${answer.body.username} (authenticated at ${answer.body.authenticatedAt}).`
    : needsStepUp(answer) ? 'Please confirm who you are first.' : `Refused (${answer.status}): ${answer.body.message}`
}

async function confirm (username) {
  // The access token must be live for the step-up: api() refreshes it when it expired.
  const answer = await api('POST', '/confirm', { username })
  if (answer === null) return
  if (answer.status !== 200) {
    byId('settings-result').textContent = `Not confirmed: ${answer.body.message}`
    return
  }
  byId('confirm').hidden = true
  await openSettings()
}

function failed (error) {
  say(`Something went wrong: ${error.message}`)
}

for (const button of document.querySelectorAll('[data-user]')) {
  button.addEventListener('click', () => { logIn(button.dataset.user).catch(failed) })
}
byId('reload-profile').addEventListener('click', () => { showProfile().catch(failed) })
byId('reload-sessions').addEventListener('click', () => { showSessions().catch(failed) })
byId('admin').addEventListener('click', () => { openAdmin().catch(failed) })
byId('settings').addEventListener('click', () => { openSettings().catch(failed) })
byId('confirm').addEventListener('submit', (event) => {
  event.preventDefault()
  confirm(byId('confirm-username').value).catch(failed)
})
byId('logout').addEventListener('click', () => { logOut('/auth/logout').catch(failed) })
byId('logout-all').addEventListener('click', () => { logOut('/auth/logout-all').catch(failed) })

// Already logged in (a reload)? The profile tells; a 401 that no refresh fixes shows the login.
showProfile().then(() => { if (byId('app').hidden) say('') }).catch(failed)
