"""Prints how each kind of strassentile error reaches Python (type and first line), one case per subprocess:
the check that C++ messages arrive intact. Run: PYTHONPATH=python:research/python python3 -m strassentile_lab.probe_error_messages"""
import subprocess, sys
cases = {
 "string_only_message": "strassentile.stl_matmul(torch.randn(4,8), torch.randn(3,4,4), torch.randn(3,4), torch.randn(4,3), 2, None, 'bogus', 8)",
 "integer_message": "strassentile.STLLinear(8, 8, tile=2, rank=3, mode='causal', levels=[0, 2, 1])",
 "integer_message_shape": "strassentile.stl_matmul(torch.randn(4,9), torch.randn(3,4,4), torch.randn(3,4), torch.randn(4,3), 2, None, 'tile', 8)",
 "python_side_error": "strassentile.STLLinear(8, 8, tile=2, rank=3, levels=[0, 1, 1])",
}
for name, code in cases.items():
    prog = f"import torch, strassentile\ntry:\n    {code}\nexcept Exception as e:\n    print('raised', type(e).__name__, str(e).splitlines()[0][:100])\n"
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True)
    print(name, "exit", r.returncode, r.stdout.strip()[:160], r.stderr.strip().splitlines()[-1:] if r.returncode else "")
