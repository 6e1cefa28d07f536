import { workerNeonLeg } from '../../support/legs'
import { contractLeg } from '../leg'

await contractLeg('worker + neon-http -> postgres', true, workerNeonLeg)
