// Type test: programs written against the `e2b` package's network types compile against
// sandkit's with only the import changed, both ways where values flow both ways.
import type * as E2B from 'e2b'
import { ALL_TRAFFIC, Sandbox } from '../../index.js'
import type {
  SandboxEgressProxyInfo,
  SandboxEgressProxyOpts,
  SandboxInfo,
  SandboxNetworkInfo,
  SandboxNetworkOpts,
  SandboxNetworkRule,
  SandboxNetworkRules,
  SandboxNetworkSelector,
  SandboxNetworkTransformContext,
  SandboxNetworkUpdate,
} from '../../index.js'

declare const officialOpts: E2B.SandboxNetworkOpts
declare const officialUpdate: E2B.SandboxNetworkUpdate
declare const officialRules: E2B.SandboxNetworkRules
declare const officialSelector: E2B.SandboxNetworkSelector
declare const officialProxy: E2B.SandboxEgressProxyOpts
declare const ourInfo: SandboxNetworkInfo
declare const ourProxyInfo: SandboxEgressProxyInfo

// What a user passes to e2b is accepted by sandkit.
export const opts: SandboxNetworkOpts = officialOpts
export const update: SandboxNetworkUpdate = officialUpdate
export const rules: SandboxNetworkRules = officialRules
export const selector: SandboxNetworkSelector = officialSelector
export const proxy: SandboxEgressProxyOpts = officialProxy
// What sandkit returns is what e2b's users read.
export const info: E2B.SandboxNetworkInfo = ourInfo
export const proxyInfo: E2B.SandboxEgressProxyInfo = ourProxyInfo
export const allTraffic: '0.0.0.0/0' = ALL_TRAFFIC

export async function usage(sbx: Sandbox): Promise<SandboxInfo['network']> {
  const rule: SandboxNetworkRule = {
    transform: ({ iam }: SandboxNetworkTransformContext) => ({ headers: { Authorization: `Bearer ${iam.tokens.aws}` } }),
  }
  const s = await Sandbox.create({
    allowInternetAccess: true,
    network: {
      allowOut: ({ rules }) => [...rules.keys()],
      denyOut: ({ allTraffic }) => [allTraffic],
      rules: new Map([['api.example.com', [rule, { transform: { headers: { 'X-A': 'b' } } }]]]),
      egressProxy: { address: 'proxy.example.com:1080', username: 'u', password: 'p' },
      allowPublicTraffic: false,
      maskRequestHost: 'localhost:${PORT}',
      httpsPorts: [8443],
    },
  })
  await s.updateNetwork({ allowOut: ['1.1.1.1'], denyOut: [ALL_TRAFFIC], allowInternetAccess: false })
  await sbx.updateNetwork({ rules: { 'a.com': [rule] } }, { requestTimeoutMs: 5_000 })
  await Sandbox.updateNetwork(s.sandboxId, { egressProxy: { address: 'p:1080' } }, { apiKey: 'k' })
  const info = await s.getInfo()
  return info.network
}
