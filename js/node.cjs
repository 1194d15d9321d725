// Node entry (CommonJS): the napi addon behind the public API. wrap.cjs is generated from
// wrap.mjs by scripts/build-js.mjs, because Node 20 cannot require() an ES module.
'use strict'
const { wrapBinding } = require('./wrap.cjs')

const api = wrapBinding(require('./native/binding.cjs'))
module.exports = { ...api, default: api.Sandbox }
