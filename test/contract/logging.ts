import { describe, expect, it } from 'vitest'
import { client, loginToken, registerUser, type TargetRef, waitForLine } from './target'

/** Security events are logged as JSON lines, never with a password or a token. */
export function loggingContract(target: TargetRef): void {
  describe('logs', () => {
    it('records a failed login by user id, and never logs passwords or tokens', async () => {
      const { id, username, password } = await registerUser(target, 'logged')
      const token = await loginToken(target, username, password)
      expect((await client(target).validate(`Bearer ${token}`)).status).toBe(200)
      const wrong = `wrong-${crypto.randomUUID()}`
      expect((await client(target).login({ username, password: wrong })).status).toBe(401)

      const line = await waitForLine(target, ['"event":"authn_login_fail"', `"user_id":${id},`])
      expect(line).toBeDefined()
      const logs = target().logs()
      for (const secret of [password, wrong, token, token.split('.')[2] ?? token]) {
        expect(logs).not.toContain(secret)
      }
    })
  })
}
