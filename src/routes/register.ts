import { createRoute, z } from '@hono/zod-openapi'
import {
  canonicalName,
  canonicalUsername,
  nameProblem,
  passwordProblem,
  usernameKey,
  usernameProblem,
  usernameSkeleton,
} from '../auth/credentials'
import { insertUserCountingAttempt } from '../db/register'
import { ApiError, tooManyRequests } from '../errors'
import { requireJson } from '../middleware/body'
import type { AppServices } from '../types'
import { createRouter } from './router'
import { ErrorSchema, jsonContent, text, ValidationErrorSchema } from './schemas'

const INPUT_BOUND = 4096

const RegisterSchema = z
  .object({
    name: text().max(INPUT_BOUND).transform(canonicalName).openapi({ example: 'Alice Liddell' }),
    username: text().max(INPUT_BOUND).transform(canonicalUsername).openapi({
      example: 'alice',
      description:
        'Trimmed and NFKC-normalised; 3-32 letters, digits, ".", "_", "-"; one script; no invisible characters',
    }),
    password: text().max(INPUT_BOUND).openapi({
      example: 'correct horse battery staple',
      description: '8-128 characters, never truncated',
    }),
  })
  .superRefine((value, ctx) => {
    const problems = [
      ['name', nameProblem(value.name)],
      ['username', usernameProblem(value.username)],
      ['password', passwordProblem(value.password, value.username)],
    ] as const
    for (const [field, message] of problems) {
      if (message !== null) ctx.addIssue({ code: 'custom', path: [field], message })
    }
  })
  .openapi('RegisterRequest')

const UserSchema = z
  .object({
    id: z.number().int().openapi({ example: 1 }),
    name: z.string().openapi({ example: 'Alice Liddell' }),
    username: z.string().openapi({ example: 'alice' }),
  })
  .openapi('User')

const route = createRoute({
  method: 'post',
  path: '/register',
  tags: ['accounts'],
  summary: 'Register a user',
  middleware: [requireJson()] as const,
  request: {
    body: { content: { 'application/json': { schema: RegisterSchema } }, required: true },
  },
  responses: {
    201: jsonContent(UserSchema, 'The user was created'),
    409: jsonContent(
      ErrorSchema,
      'The username is taken (case-insensitively), or one that looks the same is',
    ),
    413: jsonContent(ErrorSchema, 'The body is too large'),
    415: jsonContent(ErrorSchema, 'The body is not JSON'),
    422: jsonContent(ValidationErrorSchema, 'The body breaks a registration rule'),
    429: jsonContent(ErrorSchema, 'Too many registrations from this address; see Retry-After'),
  },
})

/**
 * `POST /register`: hashes the password, then counts the attempt and creates the account in one
 * statement; a taken username (or a look-alike of one) is a 409, a blocked address a 429.
 */
export function registerRoutes(deps: AppServices) {
  return createRouter().openapi(route, async (c) => {
    const { name, username, password } = c.req.valid('json')
    const outcome = await deps.throttle.countRegistration(deps.limitAddress(c), async (counter) => {
      const hashedPassword = await deps.passwords.hash(password)
      const created = await insertUserCountingAttempt(
        deps.db,
        {
          name,
          username,
          usernameKey: usernameKey(username),
          usernameSkeleton: usernameSkeleton(username),
          hashedPassword,
        },
        counter,
      )
      return { value: created, count: created.count }
    })
    if (outcome.refused) {
      if (outcome.refused.blockStarted) {
        c.get('logger').warn('excess_rate_limit_exceeded', {
          scope: outcome.refused.scope,
          retry_after: outcome.refused.retryAfterSeconds,
        })
      }
      throw tooManyRequests(
        'Too many registrations from this address; try again later',
        outcome.refused.retryAfterSeconds,
      )
    }
    const { user, lookAlike } = outcome.value
    if (user === null) {
      throw new ApiError(
        409,
        lookAlike
          ? 'User already exists: a username that looks the same is taken'
          : 'User already exists',
      )
    }
    c.get('logger').info('user_created', { user_id: user.id })
    return c.json(user, 201)
  })
}
