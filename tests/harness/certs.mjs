// A test CA and a server certificate signed by it, with the openssl CLI (P-256, two days):
// <dir>/ca.pem, ca.key, server.pem, server.key.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The server certificate is for `names` (the first is its CN) and the IP addresses `ips`;
 * `extensions` are more lines for its extension file (e.g. `crlDistributionPoints=URI:…`).
 */
export function makeCertificates(dir, { caName, names, ips = [], extensions = [] }) {
  const ossl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' })
  const p = (f) => join(dir, f)
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'),
    '-days', '2', '-subj', `/CN=${caName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', `/CN=${names[0]}`)
  const san = [...names.map((n) => `DNS:${n}`), ...ips.map((i) => `IP:${i}`)].join(',')
  const ext = [`subjectAltName=${san}`, 'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', ...extensions]
  writeFileSync(p('ext.cnf'), `${ext.join('\n')}\n`)
  ossl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('ext.cnf'))
}
