// Posts a PR benchmark report as a comment and removes the label (used by
// valkey-perf-pr-comment.yml through actions/github-script). Everything read from the artifact
// or from branch names and commit messages is untrusted text: it is escaped so that it cannot
// mention anyone, link anywhere or inject HTML.
'use strict';
const fs = require('fs');
const path = require('path');

const MAX = 60000;

// Untrusted text for a markdown comment: no HTML, no @mentions, no links or images, no
// references (#123, owner/repo#1 stay text), no breaking out of tables.
function escapeUntrusted(text) {
  return String(text)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@/g, '&#64;')
    .replace(/\[/g, '&#91;')
    .replace(/\]/g, '&#93;')
    .replace(/\(/g, '&#40;')
    .replace(/\)/g, '&#41;')
    .replace(/!/g, '&#33;')
    .replace(/#/g, '&#35;')
    .replace(/:\/\//g, '&#58;//')
    .replace(/\bwww\./gi, 'www&#46;')
    .replace(/`/g, '&#96;');
}

// The report, line by line: headings, list markers and table pipes keep working; everything
// else is escaped as untrusted text.
function escapeReport(markdown) {
  const text = String(markdown).slice(0, MAX);
  return text
    .split('\n')
    .map((line) => {
      const m = /^(#{1,6} |\s*[-*] |\s*\d+\. )?(.*)$/.exec(line);
      return (m[1] || '') + escapeUntrusted(m[2]);
    })
    .join('\n');
}

function buildComment({ report, prNumber, baseSha, mergeSha, headBranch, runUrl, ok }) {
  const sha = (s) => String(s || '').replace(/[^0-9a-f]/gi, '').slice(0, 12);
  const lines = [
    '### valkey-perf benchmark',
    '',
    `Base \`${sha(baseSha)}\` against merge commit \`${sha(mergeSha)}\` of this pull request ` +
      `(branch ${escapeUntrusted(headBranch)}).`,
    '',
  ];
  if (!ok) {
    lines.push(`The benchmark did not finish; see the workflow run: ${runUrl}`);
  } else {
    lines.push(escapeReport(report));
  }
  lines.push('', `<sub>workflow run: ${runUrl}</sub>`);
  return lines.join('\n');
}

async function postReport({ github, context, core, label, dir }) {
  const run = context.payload.workflow_run;
  const { owner, repo } = context.repo;
  const runUrl = `${context.serverUrl}/${owner}/${repo}/actions/runs/${Number(run.id)}`;
  const ok = run.conclusion === 'success';
  let info = {};
  let report = '';
  if (ok) {
    info = JSON.parse(fs.readFileSync(path.join(dir, 'pr.json'), 'utf8'));
    report = fs.readFileSync(path.join(dir, 'report.md'), 'utf8');
  }
  // The PR number comes from the event when GitHub gives it, else from the artifact; either
  // way it must be a pull request whose head is the commit the benchmark ran for.
  const number = Number((run.pull_requests[0] || {}).number || info.pr_number);
  if (!Number.isInteger(number) || number <= 0) {
    core.setFailed('no pull request number for this run');
    return;
  }
  const pr = await github.rest.pulls.get({ owner, repo, pull_number: number });
  if (pr.data.head.sha !== run.head_sha) {
    core.setFailed(`pull request ${number} is not at ${run.head_sha}; not commenting`);
    return;
  }
  const body = buildComment({
    report,
    prNumber: number,
    baseSha: info.base_sha || pr.data.base.sha,
    mergeSha: info.merge_sha || '',
    headBranch: pr.data.head.ref,
    runUrl,
    ok,
  });
  await github.rest.issues.createComment({ owner, repo, issue_number: number, body });
  try {
    await github.rest.issues.removeLabel({ owner, repo, issue_number: number, name: label });
  } catch (e) {
    core.info(`label ${label} was not on the pull request: ${e.message}`);
  }
}

module.exports = { escapeUntrusted, escapeReport, buildComment, postReport };
