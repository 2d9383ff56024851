#!/usr/bin/env bash
# One-shot job (service secrets-check), run before anything else in docker-compose.yaml starts: refuses to go
# on while a secret is empty, still a placeholder from .env.example, or too short. Fail closed: every other
# service waits for this job to succeed.
#
#   check-secrets.sh NAME...    checks the environment variables NAME...; names ending in _USER are account
#                               names: they need not be long, but must not be placeholders.
# Values are never printed, only the variable names and what is wrong with them.
set -uo pipefail

min_length="${RETRAIN_MIN_SECRET_LENGTH:-16}"
placeholders='change-me|changeme|change_me|replace-me|password|secret|admin|example|default|xxx+|todo|test|none|null'
problems=0

for name in "$@"; do
  value="${!name-}"
  lower="$(printf '%s' "${value}" | tr '[:upper:]' '[:lower:]')"
  if [[ -z "${value}" ]]; then
    echo "secrets-check: ${name} is empty or unset; set it in .env (see .env.example)" >&2
    problems=$((problems + 1))
  elif [[ "${lower}" =~ change-?_?me|replace-?_?me ]] || { [[ "${name}" != *_USER ]] && [[ "${lower}" =~ ^(${placeholders})$ ]]; }; then
    echo "secrets-check: ${name} still holds a placeholder; generate a value (openssl rand -hex 32)" >&2
    problems=$((problems + 1))
  elif [[ "${name}" != *_USER && ${#value} -lt ${min_length} ]]; then
    echo "secrets-check: ${name} is ${#value} characters long; use at least ${min_length} (openssl rand -hex 32)" >&2
    problems=$((problems + 1))
  fi
done

if (( problems > 0 )); then
  echo "secrets-check: refusing to start: ${problems} secret(s) above are not set safely" >&2
  exit 1
fi
echo "secrets-check: $# secrets set"
