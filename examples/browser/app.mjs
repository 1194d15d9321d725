// The page: a sandbox from its handle, a command, the sandbox's web server through its public
// URL (sandbox.fetch adds the traffic token; the request crosses origins), and a live log.
import { Sandbox } from '/sandkit/wasm/browser.mjs'

const show = (id, text) => (document.getElementById(id).textContent = text)
try {
  const handle = await (await fetch('/handle')).json()
  const sandbox = Sandbox.fromHandle(handle)
  const { stdout } = await sandbox.commands.run('echo "$(whoami) in $E2B_SANDBOX_ID"')
  show('command', `$ whoami\n${stdout}`)
  const res = await sandbox.fetch(3000, '/')
  show('page', `${res.status}: ${await res.text()}`)
  show('url', `public URL: ${sandbox.getUrl(3000)}`)
  // A live log: output shows up as the command prints it.
  show('log', '')
  await sandbox.commands.run('for i in 1 2 3; do echo "tick $i"; sleep 0.2; done', {
    onStdout: (text) => (document.getElementById('log').textContent += text),
  })
  document.body.dataset.state = 'done'
} catch (err) {
  show('page', `failed: ${err.name}: ${err.message}`)
  document.body.dataset.state = 'failed'
}
