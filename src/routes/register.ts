import { createRoute, z } from '@hono/zod-openapi'
import {
  canonicalName,
  canonicalUsername,
  nameProblem,
  passwordProblem,
  usernameProblem,
} from '../auth/credentials'
import {
  documented,
  documentedValidation,
  jsonBodyRefusals,
  tooManyRequests,
  userExists,
  validationError,
} from '../http/answers'
import { createRouter } from '../http/router'
import { jsonContent, text } from '../http/schemas'
import { requireJson } from '../middleware/body'
import type { AppServices } from '../types'
import { register } from '../use-cases/registration'

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
    409: documented(
      'The username is taken (case-insensitively), or one that looks the same is',
      userExists(false),
      userExists(true),
    ),
    ...jsonBodyRefusals(),
    422: documentedValidation(
      'The body breaks a registration rule',
      validationError([{ loc: ['body', 'username'], msg: 'Field required', type: 'missing' }]),
    ),
    429: documented(
      'Too many registrations from this address; see Retry-After',
      tooManyRequests('registration', 3600),
    ),
  },
})

/**
 * `POST /register`: hashes the password, then counts the attempt and creates the account in one
 * statement; a taken username (or a look-alike of one) is a 409, a blocked address a 429.
 */
export function registerRoutes(deps: AppServices) {
  return createRouter().openapi(route, async (c) => {
    const attempt = { log: c.get('logger'), address: deps.limitAddress(c) }
    const outcome = await register(deps, attempt, c.req.valid('json'))
    if (!outcome.ok) {
      if (outcome.reason === 'throttled') {
        throw tooManyRequests('registration', outcome.retryAfterSeconds)
      }
      throw userExists(outcome.lookAlike)
    }
    return c.json(outcome.user, 201)
  })
}
