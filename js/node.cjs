// Node entry (CommonJS): the napi addon behind the public API. wrap.cjs is generated from
// wrap.mjs by scripts/build-js.mjs, because Node 20 cannot require() an ES module.
// On a platform without a matching addon, or with SANDKIT_WASM=1, the wasm build (an ES
// module without top-level await, which require() loads from Node 20.19 on).
'use strict'
const { nativeBinding, napiArgumentError, wrapBinding } = require('./wrap.cjs')

const binding = nativeBinding(() => require('./native/binding.cjs'))
const api = binding ? wrapBinding(binding, { nativeError: napiArgumentError }) : require('../wasm/node.mjs')
module.exports = { ...api, default: api.Sandbox }
