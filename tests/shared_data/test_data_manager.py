"""The seed's CrossPlatformDataManager API, on a SharedStore."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import pytest
from stalwart.shared_data import CrossPlatformDataManager, NotAStoreError, UnsupportedValueError

# The seed's "Complete Module Template", with only its import line changed.
SEED_TEMPLATE = '''
import logging
import pickle
from pathlib import Path

# Module-specific logger
logger = logging.getLogger(__name__)

# Shared data manager
from stalwart.shared_data import CrossPlatformDataManager
data_manager = CrossPlatformDataManager("shared_stats.pkl")

class YourModule:
    def __init__(self):
        logger.info("Module %s initialized", __name__)

    def process_data(self, input_data):
        """Example processing function"""
        logger.debug("Starting data processing with %d records", len(input_data))

        try:
            # Load shared data
            shared_data = data_manager.load_data()
            logger.debug("Loaded shared data with keys: %s", list(shared_data.keys()))

            # Process your data
            results = self._do_processing(input_data)

            # Update shared data
            shared_data['module_results'] = results
            shared_data['last_processed'] = len(input_data)
            data_manager.save_data(shared_data)

            logger.info("Processing completed successfully. %d records processed", len(results))
            return results

        except Exception as e:
            logger.exception("Processing failed")
            raise

    def _do_processing(self, data):
        # Your actual processing logic here
        logger.debug("Performing specific processing operations")
        return data  # Replace with actual processing
'''


def test_the_seeds_module_template_runs_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "seed_module"}
    exec(compile(SEED_TEMPLATE, "seed_module.py", "exec"), namespace)
    module = namespace["YourModule"]()
    assert [1, 2, 3] == module.process_data([1, 2, 3])
    assert ["a"] == module.process_data(["a"])
    reader = CrossPlatformDataManager(tmp_path / "shared_stats.pkl")
    assert {"module_results": ["a"], "last_processed": 1} == reader.load_data()
    reader.close()
    namespace["data_manager"].close()


def test_creating_a_manager_touches_no_file(tmp_path: Path) -> None:
    path = tmp_path / "lazy.pkl"
    manager = CrossPlatformDataManager(path)
    assert not path.exists()
    manager.save_data({"a": 1})
    assert path.exists()
    manager.close()


def test_load_data_of_an_empty_store_returns_default_or_an_empty_dict(tmp_path: Path) -> None:
    manager = CrossPlatformDataManager(tmp_path / "m.pkl")
    assert {} == manager.load_data()
    assert {"start": 0} == manager.load_data({"start": 0})
    manager.close()


def test_an_old_seed_pickle_file_is_refused_not_read_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "shared_stats.pkl"
    path.write_bytes(pickle.dumps({"from": "the seed"}))
    manager = CrossPlatformDataManager(path)
    with pytest.raises(NotAStoreError):
        manager.load_data()


def test_save_data_with_an_unsupported_value_keeps_the_old_document(tmp_path: Path) -> None:
    manager = CrossPlatformDataManager(tmp_path / "m.pkl")
    manager.save_data({"a": 1})
    with pytest.raises(UnsupportedValueError, match="'bad'"):
        manager.save_data({"a": 2, "bad": logging.getLogger()})
    assert {"a": 1} == manager.load_data()
    manager.close()


def test_the_store_gives_lossless_read_modify_write(tmp_path: Path) -> None:
    manager = CrossPlatformDataManager(tmp_path / "m.pkl")
    with manager.store.transaction() as shared:
        shared["runs"] = shared.get("runs", 0) + 1
    assert {"runs": 1} == manager.load_data()
    manager.close()
