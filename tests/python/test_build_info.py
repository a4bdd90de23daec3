"""strassentile.build_info(): the op library's build description, parsed."""
import json

import strassentile


def test_build_info_is_the_parsed_json_of_the_op():
    info = strassentile.build_info()
    assert isinstance(info, dict) and info["version"] == strassentile.__version__
    assert json.loads(json.dumps(info)) == info
