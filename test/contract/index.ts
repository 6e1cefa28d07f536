import { accountContract } from './account'
import { adminContract } from './admin'
import { docsContract } from './docs'
import { forwardAuthContract } from './forward-auth'
import { hardeningContract } from './hardening'
import { localVerificationContract } from './local-verification'
import { loggingContract } from './logging'
import { mfaContract } from './mfa'
import { passwordEngineContract } from './password-engine'
import { registerContract } from './register'
import { sessionsContract } from './sessions'
import type { ContractCases } from './target'
import { throttleContract } from './throttle'
import { tokenContract } from './token'
import { validateContract } from './validate'

/**
 * Every feature's contract cases, run against every leg by test/contract.test.ts.
 * A new feature adds its file here (one file per feature, exporting a {@link ContractCases}).
 */
export const contractCases: ContractCases[] = [
  registerContract,
  tokenContract,
  validateContract,
  sessionsContract,
  accountContract,
  throttleContract,
  forwardAuthContract,
  docsContract,
  hardeningContract,
  loggingContract,
  localVerificationContract,
  mfaContract,
  passwordEngineContract,
  adminContract,
]
