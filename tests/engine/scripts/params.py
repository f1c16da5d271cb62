from fleetload import Duration, PerVUIterations, param, scenario

D = param("directory", str, required=True)
N = param("max_names", int, default=2)
OVER = param("over", Duration, default="1m")
R = param("rate", float, default=5)
print("PARAMS", D, N, OVER, R, flush=True)
@scenario(PerVUIterations(vus=1, iterations=1))
async def x(vu):
    pass

EP = param("endpoint", list, default=[])
print("ENDPOINTS", EP, flush=True)
