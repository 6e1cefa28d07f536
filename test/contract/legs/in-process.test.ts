import { inProcessLeg } from '../../support/legs'
import { contractLeg } from '../leg'

await contractLeg('in-process + pglite', false, inProcessLeg)
