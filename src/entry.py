"""The Cloudflare Worker entrypoint: HTTP (API and Runware webhooks), the completion queue
consumer, and the sweeper cron. It only builds dependencies from ``env`` and hands over."""

import logging

from workers import WorkerEntrypoint

from ig import logs
from ig.adapters.cloudflare import bootstrap, queues, web
from ig.completion.sweeper import sweep

# Nothing else configures logging in a Worker: without this, info lines (the sweeper's report,
# job progress) never reach workerd's log. Python's stderr becomes the Worker's console output.
logs.install(logging.getLogger("ig"))


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await web.handle(bootstrap.deps_from_env(self.env), request)

    async def queue(self, batch, env=None, ctx=None):
        await queues.consume(bootstrap.deps_from_env(self.env), batch)

    async def scheduled(self, controller, env=None, ctx=None):
        deps = bootstrap.deps_from_env(self.env)
        report = await sweep(deps)
        deps.log.info("sweeper: %s", report)
