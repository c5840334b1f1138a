#!/usr/bin/env bash
# wirekeeper's pull-request job, shared by the GitHub Action (action.yml) and
# the GitLab CI template (scripts/ci/wirekeeper-plan.gitlab-ci.yml): validate the spec
# tree of the head, plan what merging it into the base would change, write
# the plan to the job summary, and post it as a comment on the pull (merge)
# request, updating the comment it posted before.
#
# Fork-safe: it reads only the base repository, where the forge keeps every
# pull request's head under a ref of its own (refs/pull/N/head on GitHub,
# refs/merge-requests/N/head on GitLab), fetched into the job's clone; the
# head is never checked out nor run, and the token is used for the comment
# only.
#
# Settings (environment):
#   WK_FORGE        github or gitlab
#   WK_WORKSPACE    the job's clone of the base repository (default: .)
#   WK_BASE         the branch the request merges into
#   WK_HEAD_REF     the ref of the request's head in the base repository
#   WK_PATH         the spec folder (default: the repository root)
#   WK_COMMENT      true (default) or false: post the plan as a comment
#   WK_API_URL      the forge's API (GITHUB_API_URL, CI_API_V4_URL)
#   WK_PROJECT      owner/name (GitHub) or the project ID (GitLab)
#   WK_REQUEST      the pull (merge) request number
#   WK_TOKEN        a token that may comment (GitHub: pull-requests: write;
#                   GitLab: api scope); never printed
#   WK_SUMMARY      a file to append the plan to (GITHUB_STEP_SUMMARY)
#   WIREKEEPER      the wirekeeper binary (default: wirekeeper in PATH)
# Exit status: that of `wirekeeper plan` (0 no changes, 2 changes, 1 invalid
# head, conflict or error), except that 2 is reported as success unless
# WK_FAIL_ON_CHANGES=true; the comment is posted in every case where a plan
# was made.
set -euo pipefail

die() { echo "wirekeeper-plan: $*" >&2; exit 1; }

forge=${WK_FORGE:?set WK_FORGE to github or gitlab}
[[ $forge == github || $forge == gitlab ]] || die "WK_FORGE=$forge: valid: github, gitlab"
ws=${WK_WORKSPACE:-.}
base=${WK_BASE:?set WK_BASE to the branch the request merges into}
head_ref=${WK_HEAD_REF:?set WK_HEAD_REF to the request head ref}
wk=$(command -v "${WIREKEEPER:-wirekeeper}") || die "no wirekeeper binary: set WIREKEEPER or put it in PATH"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The base and the request's head as local branches of the job's clone,
# which wirekeeper reads as a local repository.
git -C "$ws" fetch -q --no-tags origin \
	"+refs/heads/$base:refs/heads/wirekeeper/ci-base" \
	"+$head_ref:refs/heads/wirekeeper/ci-head"

path_args=()
[[ -n ${WK_PATH:-} ]] && path_args=(--path "$WK_PATH")
validate_output=text
[[ $forge == github ]] && validate_output=github
# The head's spec tree, read from git (a checkout of the head is not needed
# and not made): validate reports problems as annotations on GitHub.
mkdir "$out/tree"
git -C "$ws" archive wirekeeper/ci-head ${WK_PATH:+"$WK_PATH"} | tar -x -C "$out/tree"
(cd "$out/tree" && "$wk" validate --output "$validate_output" "${WK_PATH:-.}") || true

code=0
"$wk" plan --repo "$(cd "$ws" && pwd)" --base wirekeeper/ci-base --head wirekeeper/ci-head \
	"${path_args[@]}" --cache-dir "$out/cache" >"$out/plan.md" 2>"$out/plan.err" || code=$?
cat "$out/plan.err" >&2
if [[ ! -s $out/plan.md ]]; then
	die "wirekeeper plan made no plan (exit $code)"
fi
# The refs name the job's clone; the comment names what people know.
plan=$(<"$out/plan.md")
plan=${plan//'`wirekeeper/ci-head`'/"\`${WK_HEAD_NAME:-$head_ref}\`"}
plan=${plan//'`wirekeeper/ci-base`'/"\`$base\`"}
printf '%s\n' "$plan" >"$out/plan.md"
if [[ -n ${WK_SUMMARY:-} ]]; then cat "$out/plan.md" >>"$WK_SUMMARY"; fi

if [[ ${WK_COMMENT:-true} == true ]]; then
	api=${WK_API_URL:?set WK_API_URL}
	project=${WK_PROJECT:?set WK_PROJECT}
	request=${WK_REQUEST:?set WK_REQUEST}
	[[ -n ${WK_TOKEN:-} ]] || die "WK_TOKEN is empty: the comment needs a token"
	marker='<!-- wirekeeper-plan -->'
	body=$(jq -Rs '{body: .}' <"$out/plan.md")
	# The token goes to curl through a file, never on a command line.
	auth="$out/auth"
	if [[ $forge == github ]]; then
		printf 'header = "Authorization: Bearer %s"\n' "$WK_TOKEN" >"$auth"
		comments="$api/repos/$project/issues/$request/comments"
		edit="$api/repos/$project/issues/comments"
	else
		printf 'header = "PRIVATE-TOKEN: %s"\n' "$WK_TOKEN" >"$auth"
		project_path=$(jq -rn --arg p "$project" '$p|@uri')
		comments="$api/projects/$project_path/merge_requests/$request/notes"
		edit=$comments
	fi
	curl_api() { curl -sSf --max-time 30 -K "$auth" -H 'Content-Type: application/json' "$@"; }
	existing=$(curl_api "$comments?per_page=100" |
		jq -r --arg m "$marker" '[.[] | select(.body | startswith($m))] | last | .id // empty')
	if [[ -n $existing ]]; then
		method=PATCH
		[[ $forge == gitlab ]] && method=PUT
		curl_api -X "$method" -d "$body" "$edit/$existing" >/dev/null
		echo "wirekeeper-plan: updated comment $existing" >&2
	else
		curl_api -X POST -d "$body" "$comments" >/dev/null
		echo "wirekeeper-plan: posted the plan as a comment" >&2
	fi
fi

if [[ $code == 2 && ${WK_FAIL_ON_CHANGES:-false} != true ]]; then
	exit 0
fi
exit "$code"
