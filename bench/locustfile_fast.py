"""Locust peer for bench/engine_peers.py: FastHttpUser, no think time, GET /.

    locust -f bench/locustfile_fast.py --headless -u 50 -r 50 -t 10s \\
        --only-summary --csv OUT -H http://127.0.0.1:PORT
"""

from locust import FastHttpUser, constant, task


class Fast(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self) -> None:
        self.client.get("/")
