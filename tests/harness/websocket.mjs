// A one-message WebSocket client over node:net, for Node 20, which has no WebSocket global:
// connects to `url` (ws://) with `headers`, sends `text` in one masked frame, and resolves to
// the text of the first frame that comes back. Bounded: a silent server fails it.
import { connect } from 'node:net'
import { randomBytes } from 'node:crypto'

export function webSocketEcho(url, headers, text, limitMs = 10_000) {
  const { hostname, port, pathname, search } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port || 80) })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no WebSocket answer from ${url} within ${limitMs} ms`))
    }, limitMs)
    const done = (err, value) => {
      clearTimeout(timer)
      socket.destroy()
      err ? reject(err) : resolve(value)
    }
    socket.on('error', (err) => done(err))
    socket.on('connect', () => {
      const lines = [
        `GET ${pathname}${search} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ]
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
      const payload = Buffer.from(text)
      if (payload.length > 125) return done(new Error('only short messages'))
      const mask = randomBytes(4)
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ mask[i % 4])])
      let buf = Buffer.alloc(0)
      let upgraded = false
      socket.on('data', (data) => {
        buf = Buffer.concat([buf, data])
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n')
          if (end < 0) return
          const head = buf.subarray(0, end).toString()
          if (!head.startsWith('HTTP/1.1 101')) return done(new Error(`no upgrade: ${head.split('\r\n')[0]}`))
          upgraded = true
          buf = buf.subarray(end + 4)
          socket.write(frame)
        }
        if (buf.length >= 2 && buf.length >= 2 + (buf[1] & 127)) done(null, buf.subarray(2, 2 + (buf[1] & 127)).toString())
      })
    })
  })
}
