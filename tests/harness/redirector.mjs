// A server that answers every request with a redirect to the same path on `target` (with a
// query, which the SDK must not repeat in its error), and CORS preflights with a plain yes,
// so that browsers send the real request and see the redirect. Pointed at the real sandkitd, a
// client that followed the redirect would succeed, carrying its API key or access token along:
// the scenario checks that sandkit refuses instead.
import http from 'node:http'

/** @returns {Promise<{ url: string }>} */
export async function startRedirector(target) {
  const server = http.createServer((req, res) => {
    const cors = {
      'access-control-allow-origin': req.headers.origin ?? '*',
      'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
      'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*',
      'access-control-max-age': '600',
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end()
      return
    }
    res.writeHead(307, { ...cors, location: `${target}${req.url}${req.url.includes('?') ? '&' : '?'}redirected=1` })
    res.end()
    req.resume()
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref() // never what keeps a runner alive
  return { url: `http://127.0.0.1:${server.address().port}` }
}
