import { bunPgliteLeg } from '../../support/legs'
import { contractLeg } from '../leg'

await contractLeg('bun + pglite', false, bunPgliteLeg)
