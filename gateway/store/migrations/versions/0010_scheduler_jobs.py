"""the scheduler's persistent job store

Revision ID: 0010_scheduler_jobs
Revises: 0009_sim_send_history
Create Date: 2026-12-01 16:00:00

APScheduler's SQLAlchemyJobStore keeps jobs that must outlive the process (campaigns, triggers)
in `scheduler_jobs`; it is made here so one Alembic history covers every table.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010_scheduler_jobs'
down_revision = '0009_sim_send_history'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'scheduler_jobs',
        sa.Column('id', sa.Unicode(length=191), nullable=False),
        sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
        sa.Column('job_state', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_scheduler_jobs_next_run_time', 'scheduler_jobs', ['next_run_time'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_scheduler_jobs_next_run_time', table_name='scheduler_jobs')
    op.drop_table('scheduler_jobs')
