import { nodePostgresLeg } from '../../support/legs'
import { contractLeg } from '../leg'

await contractLeg('node + postgres', true, nodePostgresLeg)
