import { bunPostgresLeg } from '../../support/legs'
import { contractLeg } from '../leg'

await contractLeg('bun + postgres', true, bunPostgresLeg)
