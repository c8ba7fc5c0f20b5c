#!/usr/bin/env bash
# The tutorial's hyper-parameter sweep, end to end, on one machine:
#   schedule the 12 jobs of the tutorial's results table into a job table (the embedded SQLite
#   default, or the URL given as $1), create the view, run local workers through jobdispatch,
#   then print the results table with the columns of the tutorial's psql query.
# Safe to run again: already scheduled jobs are skipped and finished ones are not run twice; each
# run's launch logs go to a new LOGS/jobman-<date>-<n>/ (a fixed --exp_dir would refuse a second run).
#
#   conf/tutorial.sh [DB_URL]   env: WORKERS (default: the number of cores), EXPROOT (default tutorial),
#                               SCHEDULE_ONLY=1 to stop after scheduling and creating the view
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DB=${1:-"sqlite:///tutorial/jobs.db?table=mlp_dumi"}
EXPROOT=${EXPROOT:-tutorial}
WORKERS=${WORKERS:-$(nproc 2>/dev/null || echo 2)}
CONF="$here/mlp_jobman.conf"
EXP=models.mlp_jobman.experiment
mkdir -p "$EXPROOT"

# The 12 rows of the tutorial's table: 3 one-epoch runs and 9 fifty-epoch runs.
jobman sqlschedules -q "$DB" $EXP "$CONF" n_iter=1 'n_hidden={{10,20,30}}'
jobman sqlschedules -q "$DB" $EXP "$CONF" 'learning_rate={{0.01,0.05,0.1}}' 'n_hidden={{50,100}}'
jobman sqlschedules -q "$DB" $EXP "$CONF" 'learning_rate={{0.05,0.1}}' n_hidden=150
jobman sqlschedules -q "$DB" $EXP "$CONF" learning_rate=0.02 n_hidden=50
jobman sqlview -q "$DB" mlp_dumi_view
[ -n "${SCHEDULE_ONLY:-}" ] && exit 0

# N identical workers; each claims jobs from the table until none is left.
jobdispatch --local="$WORKERS" --repeat_jobs="$WORKERS" \
  jobman sql -n 0 "$DB" "$EXPROOT"

jobman sqlstatus --summary "$DB"
echo
echo "select batchsize,bestvalidationloss,learningrate,minutestrained,nhidden,niter,testscore"
echo "  from mlp_dumi_view where jobman_status=2 order by bestvalidationloss;"
jobman export "$DB" --status=DONE --format=table --sort=best_validation_loss \
  --keys=batch_size,best_validation_loss,learning_rate,minutes_trained,n_hidden,n_iter,test_score
